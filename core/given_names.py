"""Given names and their diminutives, as written by customers (any script).

Each entry is a canonical given name and the spellings and diminutives that mean it. Spellings are
folded before use (see `core.names.fold_token`), so a Cyrillic and a Latin spelling that fold alike
need to be written once. A diminutive listed under several names ("Саша": Александр and Александра)
is ambiguous and matches any of them. Cross-language equivalents (Пётр, Peter, Piotr) share an entry
so that a customer who writes their name in another language still meets themselves.
"""

from __future__ import annotations

# canonical name -> space-separated variants (full-name spellings in other languages, diminutives)
GIVEN_NAMES: tuple[tuple[str, str], ...] = (
    # Russian, male (with cross-language equivalents)
    (
        "Александр",
        "Alexander Alexandr Aleksander Aleksandar Alessandro Alejandro Oleksandr Саша Сашка "
        "Сашенька Саня Санёк Санька Шура Шурик Алекс Alex Aleks Olek Sandro",
    ),
    ("Алексей", "Alexey Alexei Aleksey Aleksiej Алёша Лёша Лёшка Лёха Алекс Alex Aleks Lyosha Alyosha"),
    ("Анатолий", "Anatoly Anatoliy Толя Толик Tolya"),
    ("Андрей", "Andrew Andrey Andrei Andrzej Andrzejek Andre André Andreas Андрюша Андрюха Дюша Дрюня Andy Drew"),
    ("Антон", "Anthony Antony Antoni Antonio Антоша Тоша Tony Antek"),
    ("Аркадий", "Arkady Аркаша"),
    ("Арсений", "Arseny Arseniy Арсюша Сеня"),
    ("Артём", "Artem Artyom Artemy Тёма Артёмка"),
    ("Артур", "Arthur Artur Art"),
    ("Богдан", "Bogdan Богдаша"),
    ("Борис", "Боря Борька"),
    ("Вадим", "Вадик"),
    ("Валентин", "Valentine Валя Валик"),
    ("Валерий", "Valery Valeriy Валера Валерка"),
    ("Василий", "Vasily Vasiliy Wasyl Вася Васька Васёк"),
    ("Вениамин", "Benjamin Beniamin Веня Ben Benny"),
    ("Виктор", "Victor Wiktor Витя Витёк Vic Vick"),
    ("Виталий", "Vitaly Vitaliy Виталик Витя"),
    ("Владимир", "Vladimir Wladimir Włodzimierz Volodymyr Вова Вовка Вовочка Володя Влад Vova Volodya"),
    ("Владислав", "Vladislav Władysław Влад Владик Слава"),
    ("Всеволод", "Vsevolod Сева"),
    ("Вячеслав", "Vyacheslav Viacheslav Слава Славик"),
    ("Геннадий", "Gennady Gennadiy Гена Генка"),
    ("Георгий", "George Georgy Georgiy Georg Jerzy Jurek Гоша Жора Гога"),
    ("Герман", "Herman Гера"),
    ("Глеб", "Gleb Глебушка"),
    ("Григорий", "Gregory Grigory Grigoriy Grzegorz Grzesiek Гриша Greg"),
    ("Даниил", "Daniel Daniil Danil Данила Данил Даня Dan Danny"),
    ("Давид", "David Dawid Dave Davey Давидик"),
    ("Денис", "Dennis Дениска Ден Дэн Den Denis"),
    ("Дмитрий", "Dmitry Dmitri Dmitriy Dimitri Dymitr Дима Димка Димон Митя Mitya"),
    ("Евгений", "Eugene Evgeny Evgeniy Yevgeny Yevgeniy Женя Жека Евгеша Zhenya Gene"),
    ("Егор", "Yegor Egor Егорка"),
    ("Ефим", "Yefim Фима"),
    ("Захар", "Zachary Zakhar Zach Zack Захарка"),
    ("Иван", "Ivan John Jon Johnny Jack Jan Janek Johann Johannes Ян Ваня Ванька Ванюша"),
    ("Игорь", "Igor Игорёк"),
    ("Илья", "Ilya Ilia Elijah Eliasz Илюша Илюха"),
    ("Иннокентий", "Innokenty Кеша"),
    ("Иосиф", "Joseph Józef Josef Joe Joey Ося"),
    ("Кирилл", "Kirill Cyril Cyryl Киря Кирюша Кирюха"),
    ("Константин", "Konstantin Constantine Konstanty Костя Костик Kostya"),
    ("Лев", "Lev Leo Лёва"),
    ("Леонид", "Leonid Лёня Лёнчик"),
    ("Лука", "Luke Lukas Lucas Łukasz Лукаш"),
    ("Максим", "Maksim Maxim Maksym Макс Max Maks Максимка"),
    ("Марк", "Mark Marc Marek Marcus"),
    ("Матвей", "Matvey Matthew Matt Mateusz Мотя Матюша"),
    ("Мирон", "Miron Мироша"),
    ("Михаил", "Mikhail Michael Michał Michal Mike Mikey Mick Миша Мишка Мишаня Misha"),
    ("Никита", "Nikita Никитка Никитос Nikitos"),
    ("Николай", "Nikolay Nikolai Nicholas Nicolas Mikołaj Mikolaj Nick Nicky Коля Колька Колян"),
    ("Олег", "Oleg Олежка"),
    ("Павел", "Pavel Paul Paweł Pawel Pablo Паша Пашка Павлик Pasha"),
    ("Пётр", "Pyotr Petr Peter Piotr Piotrek Pietro Pierre Pete Петя Петька"),
    ("Платон", "Platon Тоша"),
    ("Родион", "Rodion Родя"),
    ("Роман", "Roman Romek Рома Ромка Ромчик"),
    ("Ростислав", "Rostislav Ростик Слава"),
    ("Руслан", "Ruslan Русик"),
    ("Савелий", "Saveliy Савва Сава"),
    ("Святослав", "Svyatoslav Свят Слава"),
    ("Семён", "Semyon Semen Simon Szymon Сеня Сёма"),
    ("Сергей", "Sergey Sergei Serge Sergio Sergiusz Серёжа Серёга Серж Serezha"),
    ("Станислав", "Stanislav Stanisław Stanislaw Стас Стасик Слава Stan Staś"),
    ("Степан", "Stepan Stephen Steven Steve Stefan Szczepan Стёпа"),
    ("Тимофей", "Timofey Timothy Tymoteusz Тима Тимоша Tim"),
    ("Тимур", "Timur Тима"),
    ("Тихон", "Tikhon Тиша"),
    ("Фёдор", "Fedor Fyodor Feodor Teodor Theodore Федя Ted Teddy"),
    ("Филипп", "Philip Phillip Filip Phil Филя"),
    ("Эдуард", "Eduard Edward Edek Эдик Eddie Ted Ned"),
    ("Юрий", "Yuri Yury Yuriy Юра Юрка"),
    ("Яков", "Yakov Jacob Jakub Jake Kuba Яша"),
    ("Ярослав", "Yaroslav Jarosław Jarek Ярик Слава"),
    ("Адам", "Adam"),
    ("Алан", "Alan Allan Allen"),
    ("Альберт", "Albert Bert"),
    ("Эрик", "Eric Erik"),
    ("Оскар", "Oscar Oskar"),
    ("Остап", "Ostap"),
    ("Тарас", "Taras"),
    ("Эмиль", "Emil"),
    ("Эльдар", "Eldar"),
    ("Марат", "Marat"),
    ("Ринат", "Rinat"),
    ("Рустам", "Rustam Rustem"),
    ("Ильдар", "Ildar"),
    ("Рамиль", "Ramil"),
    ("Камиль", "Kamil"),
    ("Шамиль", "Shamil"),
    ("Азат", "Azat"),
    ("Айдар", "Aidar"),
    ("Мурат", "Murat"),
    ("Магомед", "Magomed Mohammed Muhammad Mohammad Мухаммед Мага"),
    ("Ахмед", "Ahmed Akhmed"),
    ("Али", "Ali"),
    ("Ислам", "Islam"),
    ("Расул", "Rasul"),
    ("Демьян", "Demyan Damian Dem'yan Дёма"),
    ("Назар", "Nazar"),
    ("Прохор", "Prokhor Проша"),
    ("Трофим", "Trofim"),
    # Russian, female (with cross-language equivalents)
    ("Александра", "Alexandra Aleksandra Alexa Sandra Саша Сашка Саня Шура Алекс Alex Ola Olka"),
    ("Алина", "Alina Аля Лина"),
    ("Алла", "Alla Аллочка"),
    ("Алёна", "Alyona Aliona Алёнка"),
    ("Алиса", "Alice Alicja Alisa"),
    ("Анастасия", "Anastasia Anastasiya Anastazja Настя Настюша Ася Стася Nastya"),
    ("Ангелина", "Angelina Геля Лина"),
    ("Анжела", "Angela Анжелика Angelica"),
    ("Анна", "Anna Ann Anne Annie Hanna Hannah Ania Anka Anusia Nan Nancy Аня Анюта Анечка Нюра Нюша Anya"),
    ("Антонина", "Antonina Тоня"),
    ("Валентина", "Valentina Валя"),
    ("Валерия", "Valeria Valeriya Лера"),
    ("Варвара", "Varvara Barbara Basia Barb Babs Варя"),
    ("Вера", "Vera Wiera Верочка"),
    ("Вероника", "Veronica Weronika Ника"),
    ("Виктория", "Victoria Wiktoria Vicky Tori Вика"),
    ("Галина", "Galina Halina Галя Галка"),
    ("Дарья", "Daria Darya Dasha Даша Дашка Дашуля"),
    ("Диана", "Diana"),
    ("Ева", "Eva Eve Ewa Evie"),
    ("Евгения", "Eugenia Evgenia Evgeniya Yevgenia Женя Zhenya"),
    (
        "Екатерина",
        "Ekaterina Yekaterina Katherine Catherine Kathryn Katarzyna Катерина Катя Катюша Катька "
        "Kate Katie Kathy Cathy Kat Kitty Kasia Kaśka Katya",
    ),
    ("Елена", "Elena Yelena Helen Helena Ellen Лена Леночка Lenka Алёна Alyona Aliona"),
    ("Елизавета", "Elizaveta Elizabeth Elisabeth Elżbieta Eliza Лиза Liz Lizzie Lisa Beth Betty Bess Bessie Ela"),
    ("Жанна", "Zhanna Jeanne"),
    ("Зинаида", "Zinaida Зина"),
    ("Зоя", "Zoya Zoe"),
    ("Инна", "Inna"),
    ("Ирина", "Irina Irena Irene Ира Ирочка Irka"),
    ("Карина", "Karina"),
    ("Кира", "Kira"),
    ("Клавдия", "Klavdia Клава"),
    ("Кристина", "Kristina Christina Christine Krystyna Tina Кристя"),
    ("Ксения", "Ksenia Xenia Kseniya Ксюша Ксюха Ksusha"),
    ("Лариса", "Larisa Larissa Лара"),
    ("Лидия", "Lidia Lydia Лида"),
    ("Лилия", "Lilia Lily Лиля"),
    ("Любовь", "Lyubov Lubov Люба Любаша Luba"),
    ("Людмила", "Ludmila Lyudmila Люда Люся Мила"),
    ("Маргарита", "Margarita Margaret Małgorzata Gosia Małgosia Рита Марго Peggy Meg Maggie Margo Rita"),
    ("Марина", "Marina Мариша"),
    ("Мария", "Maria Mariya Mary Marie Marysia Маша Машка Маня Маруся Marusia Masha Molly Polly"),
    ("Майя", "Maya Maja"),
    ("Милана", "Milana Мила"),
    ("Надежда", "Nadezhda Надя Nadia Nadya"),
    ("Наталья", "Natalia Nataliya Natalie Natasha Наталия Наташа Ната Nat"),
    ("Нина", "Nina Ниночка"),
    ("Оксана", "Oksana Ксана"),
    ("Олеся", "Olesya Olesia Леся"),
    ("Ольга", "Olga Оля Олечка Olya"),
    ("Полина", "Polina Paulina Поля Pola Лина"),
    ("Раиса", "Raisa Рая"),
    ("Регина", "Regina"),
    ("Светлана", "Svetlana Света Светик Sveta Lana"),
    ("Снежана", "Snezhana"),
    ("Софья", "Sofia Sofya Sophia Sophie Zofia Zosia София Соня Софа Sonya"),
    ("Стефания", "Stefania Stephanie Steph Стефа"),
    ("Таисия", "Taisia Тая"),
    ("Тамара", "Tamara Тома"),
    ("Татьяна", "Tatiana Tatyana Таня Танюша Tanya"),
    ("Ульяна", "Ulyana Уля"),
    ("Эвелина", "Evelina Evelyn"),
    ("Эльвира", "Elvira"),
    ("Эмилия", "Emilia Emily Emmy"),
    ("Эмма", "Emma"),
    ("Юлия", "Yulia Julia Julie Julka Юля Юлька"),
    ("Яна", "Yana Jana"),
    ("Злата", "Zlata"),
    ("Дина", "Dina"),
    ("Зарина", "Zarina"),
    ("Камила", "Kamila Camila"),
    ("Лейла", "Leila Layla"),
    ("Гульнара", "Gulnara Гуля"),
    ("Эльмира", "Elmira"),
    ("Ярослава", "Yaroslava Jarosława Слава"),
    ("Мирослава", "Miroslava Мира"),
    # English
    ("William", "Bill Billy Will Willy Liam Wilhelm Уильям Вильям"),
    ("Thomas", "Tom Tommy Tomasz Tomek Фома Томас"),
    ("Robert", "Bob Bobby Rob Robbie Роберт"),
    ("Richard", "Dick Rick Ricky Rich Ryszard Ричард"),
    ("James", "Jim Jimmy Jamie Джеймс"),
    ("Charles", "Charlie Chuck Karol Karl Carl Карл Чарльз"),
    ("Henry", "Harry Hal Hank Henryk Генри Генрих"),
    ("Frederick", "Fred Freddie Fryderyk Фредерик"),
    ("Alfred", "Alf Alfie Fred Альфред"),
    ("Geoffrey", "Geoff Jeff Jeffrey"),
    ("Samuel", "Sam Sammy Самуил Samuil"),
    ("Susan", "Sue Susie Suzanne Zuzanna Zuzia Сюзанна"),
    ("Patrick", "Pat Paddy Patryk Патрик"),
    ("Patricia", "Pat Patty Trish Patrycja"),
    ("Christopher", "Chris Kit Krzysztof Krzyś Krzysiek Krzysio Kristofer Кристофер Крис"),
    ("Jennifer", "Jen Jenny"),
    ("Jessica", "Jess Jessie"),
    ("Joshua", "Josh"),
    ("Kenneth", "Ken Kenny"),
    ("Lawrence", "Larry Laurence"),
    ("Leonard", "Len Lenny"),
    ("Nathan", "Nathaniel Nate Nat"),
    ("Rebecca", "Becky Becca Rebeka Ребекка"),
    ("Ronald", "Ron Ronnie Рональд"),
    ("Donald", "Don Donnie Дональд"),
    ("Douglas", "Doug"),
    ("Gerald", "Gerry Jerry"),
    ("Vincent", "Vince Wincenty"),
    ("Walter", "Walt Wally"),
    ("Abigail", "Abby Abbie"),
    ("Deborah", "Debbie Debra"),
    ("Dorothy", "Dot Dolly Dottie Dorota"),
    ("Eleanor", "Ellie Nora"),
    ("Frank", "Francis Franek Franciszek Frankie Франц Франк"),
    ("Frances", "Fran Frankie"),
    ("Gabriel", "Gabe Габриэль"),
    ("Isabella", "Isabel Izabela Izzy Bella Изабелла"),
    ("Jacqueline", "Jackie"),
    ("Judith", "Judy"),
    ("Linda", "Линда"),
    ("Louis", "Louie Lou Ludwik Луи"),
    ("Louise", "Lou"),
    ("Megan", "Meg"),
    ("Pamela", "Pam"),
    ("Rachel", "Рэйчел"),
    ("Sarah", "Sara Sally Sadie Сара"),
    ("Teresa", "Theresa Terry Tess Tessa Тереза"),
    ("Oliver", "Ollie Olivier Oliwer Оливер"),
    ("Olivia", "Liv Oliwia Оливия"),
    ("Charlotte", "Lottie Charlie Шарлотта"),
    ("Amelia", "Millie"),
    ("Martha", "Marta Marty Марта"),
    ("Martin", "Marcin Marty Мартин"),
    ("Caroline", "Carol Carrie Karolina Каролина"),
    ("Dominic", "Dominik Доминик"),
    ("Kevin", "Кевин"),
    ("Brian", "Bryan Брайан"),
    ("Jason", "Джейсон"),
    ("Adrian", "Адриан"),
    ("Sebastian", "Seba Себастьян"),
    ("Raphael", "Rafael Rafał Raf Рафаэль"),
    # Polish
    ("Joanna", "Asia Joasia Joan"),
    ("Bartłomiej", "Bartek Bartholomew Bart Варфоломей"),
    ("Wojciech", "Wojtek Wojtuś Войцех"),
    ("Agnieszka", "Agnes Aga Agusia Агнесса"),
    ("Magdalena", "Magda Madzia Madeleine Madeline Магдалина Магда"),
    ("Zbigniew", "Zbyszek Збигнев"),
    ("Przemysław", "Przemek"),
    ("Mirosław", "Mirek Мирослав"),
    ("Radosław", "Radek"),
    ("Tadeusz", "Tadek"),
    ("Kazimierz", "Kazik Казимир"),
    ("Janusz", "Януш"),
    ("Dariusz", "Darek"),
    ("Mariusz", "Мариуш"),
    ("Sławomir", "Sławek"),
    ("Justyna", "Justyne Justine"),
    ("Beata", "Беата"),
    ("Renata", "Рената"),
    ("Monika", "Monica Моника"),
    ("Danuta", "Danka"),
    ("Jadwiga", "Jadzia Hedwig"),
    ("Wiesław", "Wiesiek"),
    ("Leszek", "Лешек"),
    ("Maciej", "Maciek Мацей"),
    ("Hubert", "Губерт"),
    ("Konrad", "Конрад"),
    ("Kinga", "Кинга"),
    ("Sylwia", "Sylvia Сильвия"),
    ("Bartosz", "Бартош"),
)


# Given names with no diminutives listed. A name missing from the table reads as a surname, so a rare
# one ("Антип", "Кузьма", "Элеонора") neither agrees with itself inside a fuller name nor clashes with
# another given name: colleagues "Элеонора Лобанова" and "Алина Лобанова" would look like one person.
MORE_GIVEN_NAMES: str = (
    # Russian, old and rare names included
    "Август Авдей Аверкий Аверьян Авксентий Автоном Агап Агата Агафон Агафья Аггей Азарий Аким Акулина "
    "Алевтина Амвросий Амос Ананий Андрон Андроник Аникей Аникита Анисим Антип Антонин Аполлинарий "
    "Аполлон Арефий Аристарх Архип Аскольд Афанасий Афиноген Бажен Болеслав Борислав Боян Бронислав "
    "Будимир Валерьян Варлаам Василиса Вацлав Велимир Венедикт Викентий Викторин Виссарион Владилен "
    "Владлен Всемил Всеслав Вышеслав Гаврила Галактион Гедеон Герасим Глафира Гордей Гостомысл Гремислав "
    "Гурий Дементий Демид Добромысл Доброслав Дорофей Евграф Евдоким Евдокия Евлампий Евпраксия Евсей "
    "Евстафий Евстигней Евфросиния Елизар Елисей Емельян Епифан Еремей Ермил Ермолай Ерофей Ефрем Зиновий "
    "Зосима Иванна Игнатий Измаил Изот Изяслав Иларион Ипат Ипатий Ипполит Ираида Ираклий Исидор "
    "Каллистрат Капитон Касьян Клавдий Климент Кондрат Кондратий Конон Корнил Кузьма Куприян Лаврентий "
    "Ладимир Ладислав Лазарь Леон Леонтий Лонгин Лора Лукия Лукьян Лучезар Любим Любомир Любосмысл Макар "
    "Максимильян Мариан Мартьян Марфа Мефодий Мечислав Милан Милен Милица Милован Митофан Михей Модест "
    "Моисей Мокей Мстислав Наина Наркис Наум Нестор Никандр Никанор Никифор Никодим Никон Нинель Нифонт "
    "Нонна Октябрина Олимпиада Олимпий Онуфрий Орест Осип Остромир Панкрат Панкратий Пантелеймон Панфил "
    "Парамон Парфен Пахом Пелагея Пимен Поликарп Порфирий Потап Прасковья Прокл Прокофий Радим Радислав "
    "Радован Ратибор Ратмир Рубен Рюрик Савватий Самсон Светозар Святополк Севастьян Селиван Селиверст "
    "Серафим Сигизмунд Сидор Силантий Сильвестр Синклитикия Сократ Соломон Софон Софрон Спартак Спиридон "
    "Станимир Стоян Твердислав Творимир Терентий Трифон Ульян Устин Фадей Фаина Феврония Федосий Федот "
    "Феликс Феоктист Феофан Ферапонт Филарет Филимон Фирс Флорентин Фока Фортунат Фотий Фрол Фёкла "
    "Харитон Харлампий Христофор Чеслав Элеонора Эммануил Эраст Эрнест Эрнст Ювеналий Юлиан Юлий Януарий "
    "Ярополк "
    # Polish
    "Adrianna Angelika Aniela Anita Apolonia Arkadiusz Aurelia Bianka Blanka Bruno Błażej Cezary Cyprian "
    "Dagmara Fabian Gustaw Ignacy Inga Jacek Janina Jeremi Julianna Julita Juliusz Jędrzej Kacper Kajetan "
    "Kalina Klara Kornel Kornelia Krystian Ksawery Liwia Malwina Marcel Marcelina Marianna Marika Maurycy "
    "Melania Mieszko Miłosz Natasza Nicole Nikodem Norbert Olaf Olgierd Roksana Rozalia Róża Tobiasz "
    "Tymon Urszula Witold "
    # English
    "Aaron Adrienne Aimee Alec Alejandra Alexandria Alexis Alisha Alison Allison Alvin Amanda Andrea "
    "Andres Angie Annette Ariana Ariel Ashlee Ashley Audrey Barry Belinda Bethany Beverly Bianca Bonnie "
    "Brad Brandi Brandon Brandy Breanna Brenda Brendan Brent Brett Briana Brianna Bridget Brittany "
    "Brittney Brooke Bryce Caitlin Caitlyn Caleb Calvin Candace Candice Carla Carlos Carly Carmen Carolyn "
    "Casey Cassandra Cassidy Cassie Cesar Chad Charlene Chelsea Chelsey Cheryl Cheyenne Christie Christy "
    "Cindy Claire Clarence Claudia Cody Colin Colleen Connie Corey Cory Craig Cristian Cristina Cynthia "
    "Daisy Damon Dana Danielle Darin Darius Darlene Darrell Darren Darryl Daryl Deanna Denise Derek "
    "Derrick Desiree Devin Diane Dominique Donna Doris Duane Dustin Dwayne Dylan Edgar Eduardo Edwin "
    "Eileen Elaine Erica Erika Erin Ethan Evan Felicia Fernando Francisco Gabriela Gabriella Gabrielle "
    "Gail Gary Gavin Gina Glenda Gloria Gwendolyn Hailey Harold Hector Heidi Isaiah Jaclyn Jaime Jane "
    "Janet Janice Jared Jasmin Jasmine Javier Jeanette Jeffery Jeremiah Jermaine Jerome Jesus Jillian "
    "Joanne Jocelyn Jodi Jody Joel Johnathan Jonathan Jonathon Jorge Jose Joyce Juan Justin Kaitlin "
    "Kaitlyn Karen Karla Katelyn Kathleen Katrina Kayla Kaylee Keith Kelli Kellie Kendra Kerri Kiara "
    "Kimberly Kirsten Krista Kristen Kristi Kristie Kristin Kristine Kristy Krystal Kurt Kyle Kylie Lacey "
    "Latasha Latoya Laura Lauren Laurie Leah Leroy Lonnie Loretta Lori Lorraine Luis Makayla Mallory "
    "Mandy Manuel Marcia Marco Mariah Marilyn Mario Marisa Marissa Maureen Maurice Meagan Meghan Melanie "
    "Melinda Melissa Melody Meredith Michaela Micheal Michele Michelle Miguel Mikayla Mindy Miranda "
    "Monique Nichole Norma Paula Pedro Phyllis Priscilla Rachael Ralph Randy Raymond Rebekah Reginald "
    "Renee Rhonda Ricardo Rickey Roberta Roberto Robyn Rodney Roger Ryan Sabrina Samantha Sean Selena "
    "Shane Shari Sharon Shaun Shawn Shawna Sheena Sheila Shelia Shelley Shelly Sheri Sherri Sherry Sheryl "
    "Shirley Stacey Stacie Stacy Tabitha Tami Tammie Tammy Tara Tasha Tiffany Tracey Traci Tracie Tracy "
    "Trevor Tricia Tristan Troy Tyrone Valerie Vanessa Vickie Virginia Wanda Wendy Willie Xavier Yesenia "
    "Yolanda Yvette Yvonne "
)
